# Memory and THUMBS_MAX_PIXELS go together (the memory/pixel table of docs/deploy/index.md, from measured
# peak RSS): the pixel limit follows the memory, so no image the function accepts can exhaust it.
locals {
  memory_mb             = { "512Mi" = 512, "1Gi" = 1024, "2Gi" = 2048, "4Gi" = 4096 }[var.available_memory]
  max_pixels_by_memory  = { 512 = 24000000, 1024 = 80000000, 2048 = 200000000, 4096 = 200000000 }
  max_pixels_for_memory = local.max_pixels_by_memory[local.memory_mb]
}
