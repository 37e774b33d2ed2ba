"""gotr1.training"""
