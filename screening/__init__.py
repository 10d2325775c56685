"""ilscreen science layer: campaign schema, structures, candidates, analysis, ranking, store.

Nothing in this package imports jobflow or a workflow engine: functions take pymatgen/numpy
objects and return pydantic models, so they can be used from notebooks and tested on their own.
"""

__version__ = "0.1.0"
