"""Recommenders behind one small interface (see ``liverec.models.base``)."""
