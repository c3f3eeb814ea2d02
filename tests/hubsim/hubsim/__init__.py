"""hffs Hub simulator: a fake Hugging Face Hub (API + resolve in Python, CDN in nginx) for tests."""
