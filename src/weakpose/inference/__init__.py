"""Running weakpose on images: rendering previews, the MediaPipe 2D detector, photo/video prediction."""
