"""gotr1.scenes"""
