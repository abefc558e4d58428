"""Semi-Instruct: turn natural human code into verified instruction-tuning pairs."""
