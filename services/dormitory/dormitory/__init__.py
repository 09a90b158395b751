"""Zhidu dormitory service: staff dormitory rules of seed 000 §5 (宿舍管理)."""
