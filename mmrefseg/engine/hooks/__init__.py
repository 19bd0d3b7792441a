from .refer_visualization_hook import ReferVisualizationHook

__all__ = ['ReferVisualizationHook']
