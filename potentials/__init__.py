"""Machine-learned interatomic potentials behind one interface (see :mod:`potentials.registry`)."""
