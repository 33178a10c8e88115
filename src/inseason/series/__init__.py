"""The series table (DESIGN §2): observations → series, splits and the leakage audit."""
