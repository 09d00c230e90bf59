"""Small problems shared by the tests and the measurements (:mod:`ohgw.testing.problems`)."""
