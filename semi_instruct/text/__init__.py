"""Code and text utilities the stages share: parsing model answers, program features, canonical forms
for matching, output comparison, diversity figures and function tests. Nothing here imports a stage."""
