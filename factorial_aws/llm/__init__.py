"""The model port (:mod:`.base`) and its adapters. ``openai`` is imported only by
:mod:`.openai_client`, and only when that module is imported."""
