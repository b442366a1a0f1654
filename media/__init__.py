"""Media: aiortc peer connections that forward encoded packets without transcoding."""
