"""ActionBench: train and score action-customized text-to-image methods on one benchmark.

Data flows one way: data -> method.train -> method.generate -> metrics -> run store -> reports.
The core (this package) names no method or metric; it finds them through registries.
"""

__version__ = "0.1.0"

# Bumped when the layout of a run directory changes incompatibly; runs of another format are refused.
RUN_FORMAT_VERSION = 1
