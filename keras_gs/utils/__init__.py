"""Shared utilities at the bottom of keras_gs: `atomic_files`,
`choices` (the name check of arguments), `distribute` (the cross-replica
maths of `tf.distribute`) and `tensorboard_events` (event files written
without TensorFlow's summary ops). Nothing here imports another folder of
keras_gs."""
