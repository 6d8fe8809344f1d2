"""daginstruct."""
