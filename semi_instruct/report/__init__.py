"""What a run reports about itself: the dataset card and the figures of the Snakemake report."""
