"""Maths more than one stage uses: joint angles and moment arms, smoothing, table columns as arrays."""
