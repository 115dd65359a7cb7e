# The application: one service per subnet. Its resource addresses carry the
# subnet ids, so the plan shows which upstream outputs it was planned with.

terraform {
  required_version = ">= 1.0"
  required_providers {
    null = {
      source  = "hashicorp/null"
      version = "2.1.2"
    }
  }
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  type = list(string)
}

resource "null_resource" "service" {
  for_each = toset(var.subnet_ids)

  triggers = {
    vpc_id    = var.vpc_id
    subnet_id = each.key
  }
}

output "service_subnets" {
  value = sort(keys(null_resource.service))
}
