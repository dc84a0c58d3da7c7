"""The treasury's money rules: pure Python, standard library only, no I/O, no clocks."""
