"""Language detection and machine translation: pure logic over texts, frames and loaded models."""
