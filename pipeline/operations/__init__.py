"""Operations people run: replay, corrections, retention, the sweeper, status, API keys."""
