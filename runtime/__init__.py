"""ionc"""
