"""Running liverec on several processes: a private Redis, N API replicas, HAProxy in front."""
