# Memory and THUMBS_MAX_PIXELS go together (the memory/pixel table of docs/deploy/index.md, from measured
# peak RSS): the pixel limit is the one of the largest table row memory_size reaches, so no image the
# function accepts can exhaust its memory.
locals {
  max_pixels_by_memory  = { 512 = 24000000, 1024 = 80000000, 2048 = 200000000, 4096 = 200000000 }
  max_pixels_for_memory = max([for mb, pixels in local.max_pixels_by_memory : tonumber(mb) <= var.memory_size ? pixels : 0]...)
}
