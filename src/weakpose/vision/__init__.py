"""Image side of weakpose: person crops, heatmap targets/decoding, backbones."""
