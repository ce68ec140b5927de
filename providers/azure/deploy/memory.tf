# Memory and THUMBS_MAX_PIXELS go together (the memory/pixel table of docs/deploy/index.md, from measured
# peak RSS): the pixel limit follows the instance memory, so no image the app accepts can exhaust it.
# One instance renders up to host.json's concurrency at once; see the README for that factor.
locals {
  max_pixels_by_memory  = { 512 = 24000000, 1024 = 80000000, 2048 = 200000000, 4096 = 200000000 }
  max_pixels_for_memory = local.max_pixels_by_memory[var.instance_memory_mb]
}
