"""Feeds: the generic session that keeps a venue socket alive, and the pure frame processor.

:func:`divergence.feeds.process.process_frame` is shared by live feeds and replay;
:class:`divergence.feeds.session.FeedSession` owns connect, subscribe, archive, reconnect.
"""
