"""The compressors brinery ships: those the Python standard library can drive."""
