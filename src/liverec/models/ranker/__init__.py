"""The learned ranker: examples, heads (LightGBM LambdaRank, logistic), the component."""

from liverec.models.ranker.component import LearnedRanker, RankerComponent, RankerConfig
from liverec.models.ranker.examples import ExampleSpec, RankingExamples

__all__ = ["ExampleSpec", "LearnedRanker", "RankerComponent", "RankerConfig", "RankingExamples"]
