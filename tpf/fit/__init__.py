"""Fitting token production functions: energy curves and accuracy curves."""
