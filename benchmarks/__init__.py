"""`make bench`: latency, throughput, memory and accuracy of padim-edge, side by side, against the roofline."""
