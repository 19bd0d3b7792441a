from .refer_visualizer import ReferLocalVisualizer

__all__ = ['ReferLocalVisualizer']
