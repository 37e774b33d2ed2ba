"""gotr1.synthetic"""
