from .bert_text_encoder import BertTextEncoder
from .clip_text_encoder import CLIPTextEncoder

__all__ = ['BertTextEncoder', 'CLIPTextEncoder']
