"""gotr1.judges"""
