"""Files on disk: artifacts written whole (`atomic`: temporary sibling, then rename; run folders staged and
swapped), stale staging cleaned by the host that wrote it (`writer_id`), and output flags checked before any
work starts (`output_checks`)."""
