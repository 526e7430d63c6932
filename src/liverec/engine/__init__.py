"""Where the parallel parts of offline jobs run: this machine's processes, or Ray tasks.

Components ask their ``TrainContext`` for its executor and hand it their chunks; none of
them knows which engine runs them (``liverec train --engine local|ray``).
"""

from liverec.engine.base import ENGINES, Executor, LocalExecutor, cores, open_executor

__all__ = ["ENGINES", "Executor", "LocalExecutor", "cores", "open_executor"]
