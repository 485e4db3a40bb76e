"""Offline simulator of the 人民数字钱包 customer-service telephone hotline."""
