"""Transform code of the user_features example (the seed's user_repo/etl_jobs)."""
