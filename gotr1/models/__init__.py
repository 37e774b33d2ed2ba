"""gotr1.models"""
