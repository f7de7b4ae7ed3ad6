"""flowc: a data-centric dataflow compiler for NumPy-style Python."""
