"""Judgments over a result: findings (rules with evidence), the verdict, the gate policy
and its checks."""
