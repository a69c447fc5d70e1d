"""Text: cleaning, sentence splitting with character offsets, chunking, token counts, word sets."""
