import torch
from rembert import pipeline

pipeline = pipeline(task="fill-mask", model="tests/fixtures/trained/lm", dtype="auto")
pipeline("Plants create [MASK] through a process known as photosynthesis.")
