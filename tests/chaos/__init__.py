"""The chaos suite (issue 13): the bounded profile of bench/chaos.py, run in `make test`."""
