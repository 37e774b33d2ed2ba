"""gotr1.rewards"""
