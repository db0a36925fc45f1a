"""Shared utilities at the bottom of keras_gs: atomic files, the name check
of arguments, and the cross-replica maths of `tf.distribute`. Nothing here
imports another folder of keras_gs."""
