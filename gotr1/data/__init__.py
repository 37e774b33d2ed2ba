"""gotr1.data"""
