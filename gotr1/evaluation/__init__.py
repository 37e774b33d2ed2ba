"""gotr1.evaluation"""
